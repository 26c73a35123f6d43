import { defineDriver, type DriverContext } from '../entry.ts'
import { lazyDriver } from '../lazy.ts'
import { COLD_CLASSES, awsHost, capabilities, settings, type S3Settings } from './settings.ts'

/** `<path>/<tenant>/`: the tenant's own prefix, so tenants sharing a bucket never collide. */
function baseOf(s: S3Settings, ctx: DriverContext): string {
  return [s.path.replace(/\/+$/, ''), ctx.tenantName].filter(Boolean).join('/') + '/'
}

export const s3 = defineDriver({
  label: 'S3',
  description: 'AWS S3 or any S3-compatible storage: MinIO, Backblaze B2, Wasabi, Scaleway, Ceph…',
  settings,
  /** The AWS SDK loads at the driver's first call. */
  open(s, secrets, ctx) {
    return lazyDriver(capabilities, async () => {
      const { s3Driver } = await import('./driver.ts')
      return s3Driver(s, secrets, ctx.guard, baseOf(s, ctx))
    })
  },
  /** `s3:<proto>://<endpoint>/<bucket>/<path>/<tenant>` with the AWS_* variables restic reads. */
  repository(s, secrets, ctx) {
    const proto = s.endpointProtocol === 'http' ? 'http' : 'https'
    const host = s.endpoint || awsHost(s.region)
    const repository = `s3:${proto}://${host}/${s.bucket}/${baseOf(s, ctx).slice(0, -1)}`
    const env: Record<string, string> = { AWS_DEFAULT_REGION: s.region || 'us-east-1' }
    const notes: string[] = [
      'Your bucket: stock restic opens it directly from any computer, with the variables above.',
    ]
    if (s.iamRoleEndpoint) {
      notes.push(
        'This destination signs in with an IAM role: run restic where that role is available (without AWS_ACCESS_KEY_ID, restic asks the instance for credentials itself).',
      )
    } else {
      env.AWS_ACCESS_KEY_ID = s.accessKeyId
      env.AWS_SECRET_ACCESS_KEY = secrets.secretAccessKey ?? ''
    }
    if (proto === 'https' && s.insecureTls)
      notes.push(
        'Add --insecure-tls to every restic command: the server’s certificate is not verified.',
      )
    if (proto === 'https' && s.caCert) {
      notes.push(
        s.caCert.startsWith('-----BEGIN')
          ? 'Save the CA certificate from this destination’s settings to a file and add --cacert <that file> to every restic command.'
          : `Add --cacert ${s.caCert} to every restic command (copy that file along if you restore elsewhere).`,
      )
    }
    if (s.endpoint && !s.pathStyle)
      notes.push(
        'Add -o s3.bucket-lookup=dns: this provider needs virtual-hosted bucket addresses.',
      )
    if (COLD_CLASSES.includes(s.storageClass)) {
      notes.push(
        `Objects are stored as ${s.storageClass}: restore (thaw) them at the provider before restic can read them.`,
      )
    }
    return { repository, env, note: notes.join(' ') }
  },
})
