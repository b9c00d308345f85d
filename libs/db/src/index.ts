export * as schema from "./schema.ts";
export { users, events, seats, chatRooms, tickets, orders, orderItems, payments, paymentEvents, revokedTokens, idempotencyKeys, seatAudit, messages, messageArchive, notifications, waitingRoomDraws, type WaitingRoomRecord } from "./schema.ts";
export { connectDb, type Db, type DbHandle } from "./client.ts";
export { runMigrations, migrateWhenReachable, migrationsFolder } from "./migrate.ts";
export { probeDatabase } from "./probe.ts";
export { SqlState, postgresError, uniqueViolation, foreignKeyViolation, isDataException, type PgError } from "./postgres-errors.ts";
export { EventMemo } from "./event-memo.ts";
