CREATE TABLE `provider_destinations` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`type` text NOT NULL,
	`name` text NOT NULL,
	`settings` text NOT NULL,
	`secrets` text,
	`created_at` integer DEFAULT (unixepoch() * 1000) NOT NULL,
	`updated_at` integer DEFAULT (unixepoch() * 1000) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `provider_destinations_name_unique` ON `provider_destinations` (`name`);--> statement-breakpoint
CREATE TABLE `provider_policies` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL,
	`scope` text NOT NULL,
	`plan` text,
	`include_home` integer DEFAULT true NOT NULL,
	`include_databases` integer DEFAULT true NOT NULL,
	`exclude_globs` text NOT NULL,
	`window_start` text NOT NULL,
	`window_end` text NOT NULL,
	`keep_last` integer DEFAULT 0 NOT NULL,
	`keep_daily` integer DEFAULT 7 NOT NULL,
	`keep_weekly` integer DEFAULT 4 NOT NULL,
	`keep_monthly` integer DEFAULT 12 NOT NULL,
	`keep_yearly` integer DEFAULT 0 NOT NULL,
	`enabled` integer DEFAULT true NOT NULL,
	`created_at` integer DEFAULT (unixepoch() * 1000) NOT NULL,
	`updated_at` integer DEFAULT (unixepoch() * 1000) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `provider_policies_name_unique` ON `provider_policies` (`name`);--> statement-breakpoint
CREATE TABLE `provider_policy_destinations` (
	`provider_policy_id` integer NOT NULL,
	`provider_destination_id` integer NOT NULL,
	PRIMARY KEY(`provider_policy_id`, `provider_destination_id`),
	FOREIGN KEY (`provider_policy_id`) REFERENCES `provider_policies`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`provider_destination_id`) REFERENCES `provider_destinations`(`id`) ON UPDATE no action ON DELETE restrict
);
--> statement-breakpoint
ALTER TABLE `destinations` ADD `provider_destination_id` integer REFERENCES provider_destinations(id) ON DELETE cascade;--> statement-breakpoint
CREATE INDEX `destinations_provider_idx` ON `destinations` (`provider_destination_id`);--> statement-breakpoint
ALTER TABLE `policies` ADD `provider_policy_id` integer REFERENCES provider_policies(id) ON DELETE cascade;--> statement-breakpoint
CREATE UNIQUE INDEX `policies_tenant_provider` ON `policies` (`tenant_id`,`provider_policy_id`);--> statement-breakpoint
ALTER TABLE `tenants` ADD `plan` text;--> statement-breakpoint
CREATE INDEX `tenants_plan_idx` ON `tenants` (`plan`);