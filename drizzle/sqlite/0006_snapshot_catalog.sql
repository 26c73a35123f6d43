CREATE TABLE `snapshot_files` (
	`snapshot_row_id` integer NOT NULL,
	`parent` text NOT NULL,
	`name` text NOT NULL,
	`type` text NOT NULL,
	`size` integer NOT NULL,
	`mtime` integer,
	`lossy` integer DEFAULT false NOT NULL,
	PRIMARY KEY(`snapshot_row_id`, `parent`, `name`),
	FOREIGN KEY (`snapshot_row_id`) REFERENCES `snapshots`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `snapshots` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`tenant_id` integer NOT NULL,
	`destination_id` integer NOT NULL,
	`snapshot_id` text NOT NULL,
	`time` integer NOT NULL,
	`tags` text NOT NULL,
	`paths` text NOT NULL,
	`kind` text NOT NULL,
	`policy_id` integer,
	`complete` integer NOT NULL,
	`databases` text NOT NULL,
	`bytes` integer,
	`files` integer,
	`run_id` integer,
	`indexed_at` integer,
	`index_used_at` integer,
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`destination_id`) REFERENCES `destinations`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `snapshots_dest_snapshot` ON `snapshots` (`destination_id`,`snapshot_id`);--> statement-breakpoint
CREATE INDEX `snapshots_tenant_time_idx` ON `snapshots` (`tenant_id`,`time`);--> statement-breakpoint
ALTER TABLE `repositories` ADD `snapshots_synced_at` integer;