/**
 * systemd unit files and the environment file for `panel service install`: plain text, built
 * from where this checkout and Node.js live, so the units run exactly this project.
 */

export type UnitOptions = {
  /** Absolute path of the node binary (process.execPath). */
  node: string
  /** Absolute project folder: WorkingDirectory, and where src/bin.js is. */
  projectDir: string
  /** Absolute data folder, given as PANEL_DATA_DIR. */
  dataDir: string
  /** The environment file every unit reads when it exists (default /etc/panel/env). */
  envFile: string
  /** Runs `panel serve` as this unprivileged user (its runner then runs apart, as root); null: root. */
  user: string | null
}

export type UnitFile = { name: 'panel.service' | 'panel-runner.service'; text: string }

/**
 * Hardening that keeps what a root runner needs: switching to each tenant's uid/gid for restic,
 * dumps and restores (CAP_SETUID/SETGID), creating work dirs for tenants (CAP_CHOWN, CAP_FOWNER),
 * reading and stopping processes and files of other users (CAP_DAC_*, CAP_KILL). Tenant homes
 * may live anywhere (/home, /var/www, /srv), so ProtectHome stays off and ProtectSystem is `full`
 * (/usr, /boot, /etc read-only), not `strict`. RestrictSUIDSGID stays off: a restore must be able
 * to put back a tenant's setgid folders. MemoryDenyWriteExecute stays off: Node.js compiles code.
 */
const COMMON_HARDENING = [
  'PrivateTmp=yes',
  'PrivateDevices=yes',
  'ProtectSystem=full',
  'ProtectKernelTunables=yes',
  'ProtectKernelModules=yes',
  'ProtectKernelLogs=yes',
  'ProtectControlGroups=yes',
  'ProtectClock=yes',
  'ProtectHostname=yes',
  'RestrictNamespaces=yes',
  'RestrictRealtime=yes',
  'LockPersonality=yes',
  'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK',
  'SystemCallArchitectures=native',
  'SystemCallFilter=@system-service',
  'SystemCallErrorNumber=EPERM',
]

/** What root keeps: enough to act as each tenant, nothing to reconfigure the machine. */
const ROOT_CAPABILITIES = [
  'CAP_SETUID',
  'CAP_SETGID',
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_NET_BIND_SERVICE',
]

function unit(
  opts: UnitOptions,
  p: { description: string; verb: string; env: string[]; user: string | null },
) {
  // NoNewPrivileges holds for root too: children drop to the tenant's uid/gid with setuid(2)
  // before they exec restic; nothing gains privileges through a setuid binary.
  const who = p.user
    ? [`User=${p.user}`, 'CapabilityBoundingSet=']
    : [`CapabilityBoundingSet=${ROOT_CAPABILITIES.join(' ')}`]
  return [
    `# Written by \`panel service install\`. Run it again after moving the project or Node.js.`,
    `# Local settings (PORT, HOST, PANEL_BASE_URL, SMTP_*…) go in ${opts.envFile}.`,
    '[Unit]',
    `Description=${p.description}`,
    'After=network-online.target',
    'Wants=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    `WorkingDirectory=${opts.projectDir}`,
    `Environment=PANEL_DATA_DIR=${opts.dataDir}`,
    ...p.env.map((e) => `Environment=${e}`),
    `EnvironmentFile=-${opts.envFile}`,
    `ExecStart=${opts.node} ${opts.projectDir}/src/bin.js ${p.verb}`,
    'Restart=on-failure',
    'RestartSec=5',
    // SIGTERM to the panel alone: it stops its jobs, whose restic processes release their locks.
    'KillMode=mixed',
    'TimeoutStopSec=30',
    ...who,
    'NoNewPrivileges=yes',
    ...COMMON_HARDENING,
    `ReadWritePaths=-${opts.dataDir}`,
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n')
}

/**
 * The units for one host. `serve`: panel.service runs `panel serve` with its built-in runner.
 * `separate`: panel.service serves pages only (PANEL_RUNNER=0) and panel-runner.service runs
 * `panel runner` as root; always so when `user` is set, since only root can back up tenants as
 * themselves. `runner-only`: panel-runner.service alone, for a second host.
 */
export function panelUnits(
  opts: UnitOptions,
  layout: 'serve' | 'separate' | 'runner-only',
): UnitFile[] {
  const split = layout === 'separate' || opts.user !== null
  const out: UnitFile[] = []
  if (layout !== 'runner-only') {
    out.push({
      name: 'panel.service',
      text: unit(opts, {
        description: split ? 'Panel Backups web panel' : 'Panel Backups (web panel and job runner)',
        verb: 'serve',
        env: split ? ['PANEL_RUNNER=0'] : [],
        user: opts.user,
      }),
    })
  }
  if (split || layout === 'runner-only') {
    out.push({
      name: 'panel-runner.service',
      text: unit(opts, {
        description: 'Panel Backups job runner',
        verb: 'runner',
        env: [],
        user: null,
      }),
    })
  }
  return out
}

/** The environment file, all commented out: the defaults apply until an admin sets a line. */
export function envFileText(): string {
  return [
    '# Settings for the panel services (read by systemd; this file stays root-only, mode 0600).',
    '# Uncomment and edit, then: systemctl restart panel (and panel-runner, if installed).',
    '# Every variable is described in the README, section Configuration.',
    '',
    '# Where the panel listens. Behind nginx or Caddy keep 127.0.0.1.',
    '#HOST=127.0.0.1',
    '#PORT=3000',
    '',
    '# The public address, used in links and for Secure cookies behind a TLS proxy.',
    '#PANEL_BASE_URL=https://panel.example.com',
    '',
    '# The reverse proxy in front of the panel, whose X-Forwarded-For is believed.',
    '#PANEL_TRUSTED_PROXIES=127.0.0.1,::1',
    '',
    '# Mail server for notices.',
    '#SMTP_HOST=smtp.example.com',
    '#SMTP_PORT=587',
    '#SMTP_SECURE=0',
    '#SMTP_USER=panel@example.com',
    '#SMTP_PASSWORD=',
    '#SMTP_FROM=Panel Backups <panel@example.com>',
    '',
    '# Many servers (README, Many servers): the one PostgreSQL database and the same key on every',
    '# node; on a hosting node, the node whose tenants its runner backs up.',
    '#PANEL_DATABASE_URL=postgres://panel:password@db.example.com:5432/panel',
    '#PANEL_SECRET_KEY=',
    '#PANEL_NODE=web1',
    '',
    '# Overrides the data folder set in the unit (Environment=PANEL_DATA_DIR=…).',
    '#PANEL_DATA_DIR=/var/lib/panel',
    '',
  ].join('\n')
}
