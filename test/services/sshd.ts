import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import {
  accessSync,
  chmodSync,
  chownSync,
  closeSync,
  constants,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { freePort } from './process.ts'

const SSHD = '/usr/sbin/sshd'

/** A throwaway OpenSSH server on 127.0.0.1 with a test system user; one per test file. */
export type SshServer = {
  host: '127.0.0.1'
  port: number
  user: string
  password: string
  /** The test user's login folder (owned by it). */
  home: string
  /** The server's own folder: config, host key, log. */
  dir: string
  /** The host key's `SHA256:…` fingerprint, as `ssh-keygen -lf` prints it. */
  fingerprint(): string
  /** Allows logins with this public key (the text of a `.pub` file). */
  authorize(publicKey: string): void
  /** The server's log so far (sshd -e writes to stderr). */
  log(): string
  /** SIGKILLs sshd and every session process it forked, as a crash would. */
  kill(): Promise<void>
  /** Starts sshd again on the same port, optionally with a newly generated host key. */
  restart(opts?: { newHostKey?: boolean }): Promise<void>
  /** Stops the server, deletes the test user and every file; safe to call twice. */
  stop(): Promise<void>
}

/**
 * True when OpenSSH's sshd and ssh-keygen are installed and we are root (the server needs a
 * system user). Otherwise: throws if CI=true, else warns loudly and returns false.
 */
export function requireSshd(): boolean {
  const missing = [SSHD, '/usr/bin/ssh-keygen'].filter((p) => !executable(p))
  const why = missing.length
    ? `SFTP tests need ${missing.join(', ')} (apt-get install openssh-server openssh-client)`
    : process.getuid?.() !== 0
      ? 'SFTP tests create a system user for sshd and need root'
      : ''
  if (!why) return true
  if (process.env.CI === 'true') throw new Error(`${why}; a missing service fails in CI.`)
  console.warn(`\n!!! SKIPPING SFTP tests: ${why}.\n`)
  return false
}

/**
 * Generates a key pair with ssh-keygen into `dir`; returns the private key text, the public
 * key line and the private key's path. `format` PEM writes RSA/ECDSA keys in the old PEM form.
 */
export function makeKey(
  dir: string,
  type: 'rsa' | 'ecdsa' | 'ed25519',
  opts: { passphrase?: string; format?: 'PEM' | 'OpenSSH' } = {},
) {
  const path = join(dir, `id_${type}_${randomBytes(3).toString('hex')}`)
  const format = opts.format === 'PEM' ? ['-m', 'PEM'] : []
  execFileSync('ssh-keygen', [
    '-q',
    '-t',
    type,
    ...format,
    '-N',
    opts.passphrase ?? '',
    '-C',
    'panel-test',
    '-f',
    path,
  ])
  return {
    path,
    privateKey: readFileSync(path, 'utf8'),
    publicKey: readFileSync(`${path}.pub`, 'utf8').trim(),
  }
}

/** Starts sshd (`-D -e -f <config>`) on a random free port with its own host key and user. */
export async function startSshd(): Promise<SshServer> {
  const dir = mkdtempSync(join(tmpdir(), 'panel-sshd-'))
  chmodSync(dir, 0o755)
  const home = join(dir, 'home')
  const user = `pt-sftp-${randomBytes(3).toString('hex')}`
  const password = `pw-${randomBytes(9).toString('base64url')}`
  const hostKey = join(dir, 'host_ed25519')
  const keys = join(dir, 'authorized_keys')
  const logPath = join(dir, 'sshd.log')
  let port = 0
  let server: ChildProcess | undefined
  let userMade = false

  // sshd's privilege separation needs this folder (normally made by systemd).
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 })
  const newHostKey = () => {
    rmSync(hostKey, { force: true })
    rmSync(`${hostKey}.pub`, { force: true })
    execFileSync('ssh-keygen', [
      '-q',
      '-t',
      'ed25519',
      '-N',
      '',
      '-C',
      'panel-test-host',
      '-f',
      hostKey,
    ])
  }
  const config = () =>
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      'UsePAM no',
      // The authorized_keys file lives in a temp folder sshd would otherwise find too open.
      'StrictModes no',
      'PasswordAuthentication yes',
      'PubkeyAuthentication yes',
      'KbdInteractiveAuthentication no',
      `AuthorizedKeysFile ${keys}`,
      `AllowUsers ${user}`,
      'PermitRootLogin no',
      'Subsystem sftp internal-sftp',
      'MaxStartups 50',
      'MaxSessions 20',
      'LogLevel VERBOSE',
    ].join('\n') + '\n'

  const launch = async () => {
    for (let attempt = 1; ; attempt++) {
      const configPath = join(dir, 'sshd_config')
      writeFileSync(configPath, config(), { mode: 0o600 })
      const log = openSync(logPath, 'a')
      server = spawn(SSHD, ['-D', '-e', '-f', configPath], { stdio: ['ignore', log, log] })
      closeSync(log)
      if (await waitBanner(server, port)) return
      if (attempt >= 3) throw new Error(`sshd did not start:\n${readFileSync(logPath, 'utf8')}`)
      port = await freePort() // most likely the port was taken meanwhile
    }
  }

  const kill = async () => {
    const pid = server?.pid
    if (!server || !pid || server.exitCode !== null || server.signalCode !== null) return
    const exited = new Promise((resolve) => server!.once('exit', resolve))
    // Per-connection children run in their own sessions (setsid), so a group kill misses them.
    for (const child of descendants(pid)) {
      try {
        process.kill(child, 'SIGKILL')
      } catch {
        // already gone
      }
    }
    server.kill('SIGKILL')
    await exited
  }

  const stop = async () => {
    await kill()
    if (userMade) {
      try {
        execFileSync('userdel', ['--force', user], { stdio: 'ignore' })
      } catch {
        // already gone
      }
      userMade = false
    }
    rmSync(dir, { recursive: true, force: true })
  }

  try {
    newHostKey()
    writeFileSync(keys, '', { mode: 0o644 })
    mkdirSync(home, { mode: 0o755 })
    execFileSync('useradd', ['--no-create-home', '--home-dir', home, '--shell', '/bin/sh', user])
    userMade = true
    execFileSync('chpasswd', { input: `${user}:${password}\n` })
    const id = (flag: string) =>
      Number(execFileSync('id', [flag, user], { encoding: 'utf8' }).trim())
    chownSync(home, id('-u'), id('-g'))
    port = await freePort()
    await launch()
  } catch (err) {
    await stop()
    throw err
  }

  return {
    host: '127.0.0.1',
    get port() {
      return port
    },
    user,
    password,
    home,
    dir,
    fingerprint: () => {
      const out = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${hostKey}.pub`], {
        encoding: 'utf8',
      })
      return out.split(/\s+/)[1]!
    },
    authorize: (publicKey) => writeFileSync(keys, `${publicKey.trim()}\n`, { flag: 'a' }),
    log: () => readFileSync(logPath, 'utf8'),
    kill,
    restart: async (opts = {}) => {
      await kill()
      if (opts.newHostKey) newHostKey()
      await launch()
    },
    stop,
  }
}

/** Every process below `pid` (read from /proc), deepest first. */
function descendants(pid: number): number[] {
  const parents = new Map<number, number>()
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      // The command name may hold spaces and parentheses: the ppid follows the last ')'.
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      parents.set(Number(name), ppid)
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = []
  const walk = (p: number) => {
    for (const [child, parent] of parents) {
      if (parent === p) {
        walk(child)
        out.push(child)
      }
    }
  }
  walk(pid)
  return out
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** Waits until the server sends its SSH banner (true), or exits or 15 s pass (false). */
async function waitBanner(server: ChildProcess, port: number): Promise<boolean> {
  const deadline = Date.now() + 15_000
  while (Date.now() < deadline && server.exitCode === null && server.signalCode === null) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = connect(port, '127.0.0.1')
      sock.setTimeout(2000, () => {
        sock.destroy()
        resolve(false)
      })
      sock.once('data', (d) => {
        sock.destroy()
        resolve(d.toString().startsWith('SSH-'))
      })
      sock.once('error', () => resolve(false))
    })
    if (ok) return true
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL')
  return false
}
