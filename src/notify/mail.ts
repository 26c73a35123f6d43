import nodemailer from 'nodemailer'
import type { SmtpConfig } from '../config.ts'
import { DeliveryError } from './delivery-error.ts'

/** Sends plain-text e-mails through the admin's SMTP server. */
export type Mailer = {
  send(to: string, subject: string, text: string): Promise<void>
  close(): void
}

/**
 * A mailer over SMTP (nodemailer). The server is the admin's (environment), not a tenant's, so
 * it is reached directly, not through the outbound guard. A 5xx answer (mailbox unknown,
 * relaying denied) is permanent; connection trouble and 4xx are retried.
 */
export function smtpMailer(smtp: SmtpConfig): Mailer {
  const transport = nodemailer.createTransport({
    host: smtp.host,
    port: smtp.port,
    secure: smtp.secure,
    auth: smtp.user ? { user: smtp.user, pass: smtp.password ?? '' } : undefined,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
  })
  return {
    async send(to, subject, text) {
      try {
        await transport.sendMail({ from: smtp.from, to, subject, text })
      } catch (err) {
        const e = err as { responseCode?: number; code?: string; message?: string }
        const permanent = typeof e.responseCode === 'number' && e.responseCode >= 500
        const why = e.responseCode
          ? `the mail server refused it: ${String(e.message).replace(/\s+/g, ' ').slice(0, 200)}`
          : `the mail server could not be reached (${e.code ?? e.message ?? 'error'})`
        throw new DeliveryError(why, permanent, { cause: err })
      }
    },
    close: () => transport.close(),
  }
}
