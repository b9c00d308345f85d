import type { FastifyReply, FastifyRequest } from "fastify";

/** A body encoded once and shared by every reader: its bytes, and its gzip made once when first asked for. */
export interface SharedBody {
  body: Buffer;
  gzip(): Promise<Buffer>;
}

/**
 * Sends a shared JSON body as it was encoded (no serializer runs), gzipped for a client whose
 * `Accept-Encoding` names gzip, with `Vary: Accept-Encoding` so caches keep both forms apart.
 */
export async function sendShared(request: FastifyRequest, reply: FastifyReply, shared: SharedBody): Promise<FastifyReply> {
  reply.type("application/json; charset=utf-8").header("vary", "accept-encoding");
  if (acceptsGzip(request.headers["accept-encoding"])) return reply.header("content-encoding", "gzip").send(await shared.gzip());
  return reply.send(shared.body);
}

/** Whether an `Accept-Encoding` header names gzip. */
export function acceptsGzip(header: string | string[] | undefined): boolean {
  return /\bgzip\b/.test(String(header ?? ""));
}
