/**
 * What can be told to a tenant (and admins). The runner, the scheduler and the web raise these
 * through `notify()` in `src/notify/notify.ts`, which decides who gets what (tenant's choice:
 * every run, failures only, never; admins for token events) and queues e-mails and webhooks.
 */
export type NotifyEvent =
  | { type: 'backup.failed'; tenantId: number; runId: number; policy: string; reason: string }
  | { type: 'backup.partial'; tenantId: number; runId: number; policy: string; reason: string }
  | { type: 'backup.recovered'; tenantId: number; runId: number; policy: string }
  | {
      type: 'backup.success'
      tenantId: number
      runId: number
      policy: string
      bytes: number | null
    }
  | { type: 'schedule.missed'; tenantId: number; policy: string; slot: Date }
  | { type: 'verify.failed'; tenantId: number; runId: number; policy: string; reason: string }
  | { type: 'token.created' | 'token.reset'; tenantId: number; by: string; activeFrom: Date }
