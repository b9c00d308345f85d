export {
  issueTicket,
  issueOrderTickets,
  voidOrderTickets,
  assignTicket,
  claimTicket,
  validTicketHolders,
  TicketError,
  type TicketErrorCode,
  type TicketRow,
  type ClaimedTicket,
} from "./tickets.ts";
export { newTicketNumber } from "./ticket-number.ts";
