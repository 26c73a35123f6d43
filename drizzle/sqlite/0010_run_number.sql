ALTER TABLE `jobs` ADD `cancel_requested_at` integer;--> statement-breakpoint
ALTER TABLE `runs` ADD `number` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `runs` ADD `policy_name` text;--> statement-breakpoint
UPDATE `runs` SET `number` = `n`.`number` FROM (SELECT `id`, row_number() OVER (PARTITION BY `tenant_id` ORDER BY `id`) AS `number` FROM `runs`) AS `n` WHERE `n`.`id` = `runs`.`id`;--> statement-breakpoint
UPDATE `runs` SET `policy_name` = (SELECT `name` FROM `policies` WHERE `policies`.`id` = `runs`.`policy_id`) WHERE `policy_id` IS NOT NULL;--> statement-breakpoint
CREATE INDEX `runs_tenant_number_idx` ON `runs` (`tenant_id`,`number`);
