ALTER TABLE "jobs" ADD COLUMN "node" text;--> statement-breakpoint
ALTER TABLE "runner_heartbeats" ADD COLUMN "node" text;--> statement-breakpoint
ALTER TABLE "runs" ADD COLUMN "node" text;--> statement-breakpoint
ALTER TABLE "tenants" ADD COLUMN "node" text;--> statement-breakpoint
CREATE INDEX "tenants_node_idx" ON "tenants" USING btree ("node");