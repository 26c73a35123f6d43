ALTER TABLE `login_throttle` ADD `last_at` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `login_throttle` DROP COLUMN `window_start`;--> statement-breakpoint
ALTER TABLE `login_throttle` DROP COLUMN `locked_until`;