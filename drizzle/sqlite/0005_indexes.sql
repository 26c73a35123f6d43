CREATE INDEX `runs_tenant_kind_status_idx` ON `runs` (`tenant_id`,`kind`,`status`,`id`);--> statement-breakpoint
CREATE INDEX `runs_job_idx` ON `runs` (`job_id`,`id`);--> statement-breakpoint
CREATE INDEX `tenants_disabled_idx` ON `tenants` (`disabled`);