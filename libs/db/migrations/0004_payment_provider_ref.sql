ALTER TABLE "payments" ALTER COLUMN "order_id" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "payments" ADD COLUMN "provider_order_ref" text;--> statement-breakpoint
-- Rows written before this column existed: the nil UUID stood for "the provider named no order of
-- ours"; what it did name was not kept, so the placeholder becomes NULL (the honest "unknown").
UPDATE "payments" SET "order_id" = NULL WHERE "order_id" = '00000000-0000-0000-0000-000000000000';
