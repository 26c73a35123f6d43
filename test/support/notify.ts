import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { SMTPServer } from 'smtp-server'
import { simpleParser, type ParsedMail } from 'mailparser'
import { drivers, type Registry } from '../../src/drivers/registry.ts'
import { StorageError } from '../../src/drivers/types.ts'
import type { SmtpConfig } from '../../src/config.ts'

/**
 * Drivers where, while `fault.broken`, every write to a Local destination fails the way an
 * unwritable backup folder does (the fault-injecting driver pattern).
 */
export function faultyDrivers(): { drivers: Registry; fault: { broken: boolean } } {
  const fault = { broken: false }
  const registry: Registry = {
    ...drivers,
    local: {
      ...drivers.local,
      open(settings, secrets, ctx) {
        const real = drivers.local.open(settings, secrets, ctx)
        return new Proxy(real, {
          get(target, key, receiver) {
            if (key === 'put' && fault.broken) {
              return async () => {
                throw new StorageError('BadConfig', 'the backup folder is not writable')
              }
            }
            const v = Reflect.get(target, key, receiver)
            return typeof v === 'function' ? v.bind(target) : v
          },
        })
      },
    },
  }
  return { drivers: registry, fault }
}

export type Mail = { to: string[]; parsed: ParsedMail }

/**
 * A real SMTP server on loopback (smtp-server) that requires AUTH and keeps every message,
 * parsed with mailparser. `smtp` is the panel's matching config.
 */
export async function startSmtp(): Promise<{ mails: Mail[]; smtp: SmtpConfig; close(): void }> {
  const mails: Mail[] = []
  const server = new SMTPServer({
    authOptional: false,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onAuth(auth, _session, cb) {
      if (auth.username === 'panel' && auth.password === 'smtp-pass') cb(null, { user: 'panel' })
      else cb(new Error('Invalid username or password'))
    },
    onData(stream, session, cb) {
      simpleParser(stream).then(
        (parsed) => {
          mails.push({ to: session.envelope.rcptTo.map((r) => r.address), parsed })
          cb()
        },
        (err) => cb(err),
      )
    },
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  const port = (server.server.address() as AddressInfo).port
  const smtp = {
    host: '127.0.0.1',
    port,
    secure: false,
    user: 'panel',
    password: 'smtp-pass',
    from: 'Panel Backups <panel@test.invalid>',
  }
  return { mails, smtp, close: () => server.close() }
}

export type Hook = { headers: IncomingHttpHeaders; body: string; path: string }

/** A loopback HTTP server that records every request and answers `answer.status` (204). */
export async function startHookReceiver(): Promise<{
  hooks: Hook[]
  url: string
  answer: { status: number }
  close(): void
}> {
  const hooks: Hook[] = []
  const answer = { status: 204 }
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      hooks.push({ headers: req.headers, body, path: req.url ?? '' })
      res.writeHead(answer.status).end()
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`
  return { hooks, url, answer, close: () => server.close() }
}

/** Polls `get` (awaited) until it returns something truthy; fails after `ms` naming `what`. */
export async function until<T>(
  what: string,
  get: () => T | undefined | false | Promise<T | undefined | false>,
  ms = 30_000,
): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = await get()
    if (v) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}
