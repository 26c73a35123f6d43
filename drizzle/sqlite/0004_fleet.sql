CREATE TABLE `api_keys` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`tenant_id` integer NOT NULL,
	`name` text NOT NULL,
	`key_hash` text NOT NULL,
	`prefix` text NOT NULL,
	`last_used_at` integer,
	`created_at` integer DEFAULT (unixepoch() * 1000) NOT NULL,
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `api_keys_key_hash_unique` ON `api_keys` (`key_hash`);--> statement-breakpoint
CREATE INDEX `api_keys_tenant_idx` ON `api_keys` (`tenant_id`);--> statement-breakpoint
CREATE TABLE `audit_log` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`at` integer DEFAULT (unixepoch() * 1000) NOT NULL,
	`user_id` integer,
	`actor` text NOT NULL,
	`tenant_id` integer,
	`action` text NOT NULL,
	`target` text,
	`ip` text,
	`details` text,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE set null,
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `audit_tenant_idx` ON `audit_log` (`tenant_id`,`id`);--> statement-breakpoint
CREATE INDEX `audit_action_idx` ON `audit_log` (`action`,`id`);--> statement-breakpoint
CREATE INDEX `audit_at_idx` ON `audit_log` (`at`);--> statement-breakpoint
CREATE TABLE `backup_tokens` (
	`tenant_id` integer PRIMARY KEY NOT NULL,
	`user_id` integer,
	`token_hash` text NOT NULL,
	`active_from` integer NOT NULL,
	`created_at` integer DEFAULT (unixepoch() * 1000) NOT NULL,
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
CREATE TABLE `notifications` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`tenant_id` integer,
	`channel` text NOT NULL,
	`recipient` text NOT NULL,
	`event` text NOT NULL,
	`subject` text NOT NULL,
	`body` text NOT NULL,
	`status` text DEFAULT 'pending' NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`error` text,
	`created_at` integer DEFAULT (unixepoch() * 1000) NOT NULL,
	`sent_at` integer,
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `notifications_status_idx` ON `notifications` (`status`,`id`);--> statement-breakpoint
CREATE INDEX `notifications_tenant_idx` ON `notifications` (`tenant_id`,`id`);--> statement-breakpoint
CREATE TABLE `tenant_health` (
	`tenant_id` integer PRIMARY KEY NOT NULL,
	`last_run_id` integer,
	`last_run_status` text,
	`last_run_at` integer,
	`last_success_at` integer,
	`failing_streak` integer DEFAULT 0 NOT NULL,
	`last_error` text,
	`missed_count` integer DEFAULT 0 NOT NULL,
	`stored_bytes` integer DEFAULT 0 NOT NULL,
	`snapshot_count` integer DEFAULT 0 NOT NULL,
	`next_run_at` integer,
	`last_verified_at` integer,
	`last_verified_ok` integer,
	`updated_at` integer DEFAULT (unixepoch() * 1000) NOT NULL,
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `tenant_health_success_idx` ON `tenant_health` (`last_success_at`);--> statement-breakpoint
CREATE INDEX `tenant_health_streak_idx` ON `tenant_health` (`failing_streak`);--> statement-breakpoint
CREATE INDEX `tenant_health_bytes_idx` ON `tenant_health` (`stored_bytes`);--> statement-breakpoint
CREATE INDEX `tenant_health_next_idx` ON `tenant_health` (`next_run_at`);--> statement-breakpoint
CREATE INDEX `tenant_health_verified_idx` ON `tenant_health` (`last_verified_at`);--> statement-breakpoint
CREATE INDEX `tenant_health_missed_idx` ON `tenant_health` (`missed_count`);--> statement-breakpoint
CREATE TABLE `verifications` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`tenant_id` integer NOT NULL,
	`policy_id` integer,
	`destination_id` integer,
	`run_id` integer,
	`mode` text NOT NULL,
	`snapshot_id` text,
	`ok` integer NOT NULL,
	`duration_ms` integer NOT NULL,
	`message` text,
	`details` text,
	`created_at` integer DEFAULT (unixepoch() * 1000) NOT NULL,
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`policy_id`) REFERENCES `policies`(`id`) ON UPDATE no action ON DELETE set null,
	FOREIGN KEY (`destination_id`) REFERENCES `destinations`(`id`) ON UPDATE no action ON DELETE set null,
	FOREIGN KEY (`run_id`) REFERENCES `runs`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
CREATE INDEX `verifications_tenant_idx` ON `verifications` (`tenant_id`,`id`);--> statement-breakpoint
CREATE INDEX `verifications_policy_idx` ON `verifications` (`policy_id`,`id`);--> statement-breakpoint
ALTER TABLE `repositories` ADD `stored_bytes` integer;--> statement-breakpoint
ALTER TABLE `repositories` ADD `snapshot_count` integer;--> statement-breakpoint
ALTER TABLE `repositories` ADD `stats_at` integer;--> statement-breakpoint
ALTER TABLE `schedule_state` ADD `last_check_at` integer;--> statement-breakpoint
ALTER TABLE `schedule_state` ADD `last_test_restore_at` integer;--> statement-breakpoint
ALTER TABLE `tenants` ADD `quota_bytes` integer;--> statement-breakpoint
ALTER TABLE `tenants` ADD `quota_snapshots` integer;--> statement-breakpoint
ALTER TABLE `tenants` ADD `quota_runs_per_day` integer;--> statement-breakpoint
ALTER TABLE `tenants` ADD `notify_email` text;--> statement-breakpoint
ALTER TABLE `tenants` ADD `notify_mode` text DEFAULT 'failures' NOT NULL;--> statement-breakpoint
ALTER TABLE `tenants` ADD `webhook_url` text;--> statement-breakpoint
ALTER TABLE `tenants` ADD `webhook_secret_sealed` text;--> statement-breakpoint
ALTER TABLE `users` ADD `email` text;