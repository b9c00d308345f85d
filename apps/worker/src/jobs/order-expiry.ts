import type { Job } from "bullmq";
import { orderExpiryJob } from "@seatdrop/jobs";
import { closePendingOrder, type OrdersContext } from "@seatdrop/orders";

/** Expires a pending order at the end of its payment window; a paid or canceled order is left alone. */
export async function handleOrderExpiry(ctx: OrdersContext, job: Job): Promise<unknown> {
  const d = orderExpiryJob.schema.parse(job.data);
  const r = await closePendingOrder(ctx, { orderId: d.orderId, to: "expired" });
  return { changed: r.changed, status: r.order.status };
}
