import type { SecretsOf, SettingsOf, Spec } from '../spec.ts'
import type { Capabilities } from '../types.ts'

/** What an S3 driver guarantees: known before its implementation (and SDK) loads. */
export const capabilities: Capabilities = { atomicPut: true, rangeGet: true, maxConnections: 8 }

/** AWS's S3 host for a region (us-east-1 keeps the classic name restic also uses). */
export function awsHost(region: string): string {
  const r = region || 'us-east-1'
  return r === 'us-east-1' ? 's3.amazonaws.com' : `s3.${r}.amazonaws.com`
}

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]*$/

/** A bucket name as S3 and its imitators accept it (legacy underscores allowed). */
export function bucketProblem(bucket: string): string | undefined {
  if (!/^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/.test(bucket) || bucket.includes('..')) {
    return 'Use 3 to 63 lowercase letters, digits, dots and dashes, starting and ending with a letter or digit.'
  }
  return undefined
}

/** A prefix inside the bucket: relative, no empty, `.` or `..` segments; a trailing `/` is fine. */
export function pathProblem(path: string): string | undefined {
  if (path.startsWith('/')) {
    return 'The path must not start with a slash: write my/backup/location, not /my/backup/location.'
  }
  if (path.length > 200) return 'Keep the path under 200 characters.'
  if (
    path
      .replace(/\/+$/, '')
      .split('/')
      .some((p) => !SEGMENT.test(p))
  ) {
    return 'Use letters, digits, dot, dash and underscore, with / between folders (no // or ..).'
  }
  return undefined
}

/** `host` or `host:port` (IPv6 in brackets); the protocol has its own field. */
export function endpointProblem(endpoint: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint)) {
    return 'Leave out “https://”: enter only the host name and port, and choose the protocol below.'
  }
  const problem =
    'Enter only a host name with an optional port, e.g. s3.example.com or minio.lan:9000.'
  if (/[/?#@\\\s]/.test(endpoint)) return problem
  try {
    return new URL(`http://${endpoint}`).hostname ? undefined : problem
  } catch {
    return problem
  }
}

/** PEM text, or an absolute path to a PEM file on this server. */
export function caProblem(ca: string): string | undefined {
  if (ca.startsWith('-----BEGIN')) {
    return /-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----/.test(ca)
      ? undefined
      : 'Paste the whole certificate, from -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----.'
  }
  if (!ca.startsWith('/') || ca.includes('\0') || /\s/.test(ca)) {
    return 'Paste the PEM text (-----BEGIN CERTIFICATE-----…) or give the absolute path of a PEM file on this server.'
  }
  return undefined
}

/** Refused unless the administrator turned IAM role endpoints on (env PANEL_ALLOW_IAM_ENDPOINT=1). */
export function iamProblem(endpoint: string): string | undefined {
  if (process.env.PANEL_ALLOW_IAM_ENDPOINT !== '1') {
    return 'IAM role endpoints are turned off on this server: use an access key, or ask your administrator.'
  }
  let url: URL
  try {
    url = new URL(endpoint)
  } catch {
    return 'Enter a URL such as http://169.254.169.254 (EC2) or http://169.254.170.2/v2/credentials/… (ECS).'
  }
  if (!/^https?:$/.test(url.protocol) || url.username || url.password || url.search || url.hash) {
    return 'Enter an http:// or https:// URL without user name, query or fragment.'
  }
  return undefined
}

export const STORAGE_CLASSES = [
  'STANDARD',
  'STANDARD_IA',
  'ONEZONE_IA',
  'INTELLIGENT_TIERING',
  'GLACIER',
  'GLACIER_IR',
  'DEEP_ARCHIVE',
  'REDUCED_REDUNDANCY',
] as const

/** Storage classes whose objects must be thawed before anything can read them. */
export const COLD_CLASSES: readonly string[] = ['GLACIER', 'DEEP_ARCHIVE']

/** The warning for an archive storage class: saved, but snapshots there are not directly restorable. */
export function coldClassWarning(storageClass: string): string | undefined {
  if (!COLD_CLASSES.includes(storageClass)) return undefined
  return `Snapshots stored as ${storageClass} are not directly restorable: restic must read the objects, so every archived object has to be restored (thawed) at the provider first, which takes hours and costs extra, and backups that need to read the repository fail meanwhile. GLACIER_IR is cheap and readable at once.`
}

const label = (c: string) => (COLD_CLASSES.includes(c) ? `${c} (not directly restorable)` : c)

export const settings = [
  {
    name: 'bucket',
    label: 'Bucket',
    type: 'text',
    required: true,
    placeholder: 'backup-bucket',
    help: 'The bucket to store backups in. It must exist already.',
    check: bucketProblem,
  },
  {
    name: 'path',
    label: 'Path',
    type: 'text',
    placeholder: 'my/backup/location',
    help: 'Optional folder inside the bucket, without a leading slash. Each account’s backups go in a sub-folder named after the account.',
    check: pathProblem,
  },
  {
    name: 'accessKeyId',
    label: 'Access key ID',
    type: 'text',
    help: 'Works with any S3-compatible storage, not only AWS.',
    check: (v: string) => (/^\S{1,128}$/.test(v) ? undefined : 'Enter the key ID without spaces.'),
  },
  {
    name: 'secretAccessKey',
    label: 'Secret access key',
    type: 'secret',
    help: 'Stored encrypted; leave blank when editing to keep the current key.',
  },
  {
    name: 'endpoint',
    label: 'Endpoint',
    type: 'text',
    placeholder: 's3.amazonaws.com',
    help: 'Host name (and port) of the storage server, e.g. s3.eu-central-003.backblazeb2.com or minio.example.com:9000. Leave blank for AWS S3.',
    check: endpointProblem,
  },
  {
    name: 'endpointProtocol',
    label: 'Endpoint protocol',
    type: 'select',
    default: 'https',
    choices: [
      { value: 'https', label: 'https' },
      { value: 'http', label: 'http (unencrypted: only on a trusted network)' },
    ],
  },
  {
    name: 'insecureTls',
    label: 'Skip TLS certificate verification',
    type: 'checkbox',
    advanced: true,
    help: 'Only for https endpoints with a self-signed certificate you cannot give as a CA certificate below. Anyone on the network path could read your backups’ traffic.',
  },
  {
    name: 'caCert',
    label: 'CA certificate',
    type: 'textarea',
    advanced: true,
    placeholder: '-----BEGIN CERTIFICATE-----',
    help: 'For a server with a self-signed or private CA certificate: paste the PEM text, or give the path of a PEM file on this server (e.g. /var/www/html/cert.pem).',
    check: caProblem,
  },
  {
    name: 'storageClass',
    label: 'Storage class',
    type: 'select',
    default: 'STANDARD',
    choices: STORAGE_CLASSES.map((c) => ({ value: c, label: label(c) })),
    help: 'How the provider stores your backups. GLACIER and DEEP_ARCHIVE are not directly restorable (archived objects must be thawed first); GLACIER_IR and the others are readable at once.',
    warn: coldClassWarning,
  },
  {
    name: 'partSizeMb',
    label: 'Part size (MB)',
    type: 'number',
    min: 5,
    max: 5120,
    advanced: true,
    placeholder: 'automatic',
    help: 'Objects larger than this are uploaded in parts of this size. Blank: 16 MB, or larger when an object would need more parts than the provider allows.',
  },
  {
    name: 'partLimit',
    label: 'Part limit',
    type: 'select',
    default: '10000',
    advanced: true,
    choices: [
      { value: '10000', label: '10,000 parts (AWS, MinIO, most providers)' },
      { value: '1000', label: '1,000 parts (Scaleway)' },
    ],
    help: 'How many parts the provider accepts in one upload; the automatic part size keeps under it.',
  },
  {
    name: 'region',
    label: 'Region',
    type: 'text',
    default: 'us-east-1',
    placeholder: 'us-east-1',
    help: 'The bucket’s region; most non-AWS providers accept us-east-1.',
    check: (v: string) =>
      /^[a-z0-9-]{1,40}$/i.test(v)
        ? undefined
        : 'Use letters, digits and dashes, e.g. eu-central-1.',
  },
  {
    name: 'pathStyle',
    label: 'Path-style requests',
    type: 'checkbox',
    default: true,
    advanced: true,
    help: 'Address the bucket as endpoint/bucket (MinIO, Ceph and most self-hosted servers) instead of bucket.endpoint. Applies to custom endpoints; AWS uses its own style.',
  },
  {
    name: 'iamRoleEndpoint',
    label: 'IAM role endpoint',
    type: 'text',
    advanced: true,
    placeholder: 'http://169.254.169.254',
    help: 'Instead of an access key, use the instance or container role: EC2 http://169.254.169.254, ECS http://169.254.170.2/v2/credentials/…. Only where your administrator enabled it.',
    check: iamProblem,
  },
] as const satisfies Spec

export type S3Settings = SettingsOf<typeof settings>
export type S3Secrets = SecretsOf<typeof settings>
