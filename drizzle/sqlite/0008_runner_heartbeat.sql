CREATE TABLE `runner_heartbeats` (
	`id` text PRIMARY KEY NOT NULL,
	`host` text NOT NULL,
	`pid` integer NOT NULL,
	`concurrency` integer NOT NULL,
	`started_at` integer NOT NULL,
	`last_seen` integer NOT NULL
);
