CREATE TABLE "waiting_room_draws" (
	"event_id" uuid PRIMARY KEY NOT NULL,
	"seed" text NOT NULL,
	"keys" text[] NOT NULL,
	"drawn_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "events" ADD COLUMN "waiting_room" jsonb;--> statement-breakpoint
ALTER TABLE "waiting_room_draws" ADD CONSTRAINT "waiting_room_draws_event_id_events_id_fk" FOREIGN KEY ("event_id") REFERENCES "public"."events"("id") ON DELETE cascade ON UPDATE no action;