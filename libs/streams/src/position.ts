/**
 * Where a sequenced stream stands (after Centrifugo's `StreamPosition{Offset, Epoch}`): its last
 * sequence number and the epoch that number belongs to. Every seat event and chat room event is
 * numbered `seq` within its stream; a new epoch means Redis lost the stream and numbering
 * restarted, so a reader's old position no longer continues and it must start over.
 */
export interface StreamPosition {
  seq: number;
  epoch: string | null;
}

/** Whether a reader at `from` can continue on a stream now at `to`: same epoch, and not ahead of it. */
export function continues(from: StreamPosition, to: StreamPosition): boolean {
  return from.epoch === to.epoch && from.seq <= to.seq;
}
