ALTER TABLE `jobs` ADD `node` text;--> statement-breakpoint
ALTER TABLE `runner_heartbeats` ADD `node` text;--> statement-breakpoint
ALTER TABLE `runs` ADD `node` text;--> statement-breakpoint
ALTER TABLE `tenants` ADD `node` text;--> statement-breakpoint
CREATE INDEX `tenants_node_idx` ON `tenants` (`node`);