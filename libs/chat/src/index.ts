export { ChatService, type ChatServiceDeps, type ChatConfig } from "./chat-service.ts";
export { ChatBus, type PresenceEntry, type RoomSeq } from "./chat-bus.ts";
export { CHAT_ERROR_REASONS, ChatError, type ChatErrorReason } from "./errors.ts";
export { checkMessage, isLowerUuid, CONTENT_TYPES, type ContentType } from "./content.ts";
export { admitToRoom, findOrCreateRoom, validTicketHolders, type RoomRef, type AdmittedTicket } from "./room-access.ts";
export { storeMessage, storeMessages, type MessageToStore, messageHistory, archivedMessages, toMessageView, type ArchivedMessageView } from "./messages.ts";
export { syncRoom, roomSchedule, type RoomSchedule, type RoomTransition, type RoomLifecycleDeps } from "./room-lifecycle.ts";
export { listNotifications, markNotificationRead, toNotificationView } from "./notifications.ts";
export { RoomPipeline } from "./message-pipeline.ts";
