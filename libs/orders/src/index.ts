export type { OrdersContext } from "./context.ts";
export { OrderError } from "./order-error.ts";
export { createOrder, isUnavailable } from "./create-order.ts";
export { closePendingOrder, refundOrder, expireOverdueOrders, type Requester } from "./close-order.ts";
export { confirmPayment, type PaymentNotice, type PaymentResult } from "./confirm-payment.ts";
export { rebuildSeats } from "./rebuild-seats.ts";
export { SeatMapCache, type EncodedSeatMap } from "./seat-map.ts";
export { loadOrderView, type OrderView } from "./order-view.ts";
