import { constants } from 'node:fs'
import { open } from 'node:fs/promises'
import { Agent as HttpAgent } from 'node:http'
import { Agent as HttpsAgent } from 'node:https'
import { createSecureContext, rootCertificates } from 'node:tls'
import { S3Client } from '@aws-sdk/client-s3'
import { NodeHttpHandler } from '@smithy/node-http-handler'
import { checkUrlHost, guardedLookup, type GuardPolicy } from '../guard.ts'
import { StorageError } from '../types.ts'
import { iamCredentials } from './iam.ts'
import { awsHost, iamProblem, type S3Secrets, type S3Settings } from './settings.ts'

/** Where the settings point: the endpoint URL (undefined: AWS) and `host:port` for messages. */
export function endpointOf(s: S3Settings): { url?: string; host: string; https: boolean } {
  const https = s.endpointProtocol !== 'http'
  const port = https ? 443 : 80
  if (!s.endpoint) return { host: `${awsHost(s.region)}:${port}`, https }
  const url = `${https ? 'https' : 'http'}://${s.endpoint}`
  const parsed = new URL(url)
  return { url, host: `${parsed.hostname}:${parsed.port || port}`, https }
}

/**
 * Combinations of settings no single field can judge, as the sentence to show; undefined when
 * the settings are usable.
 */
export function configProblem(s: S3Settings, secrets: S3Secrets): string | undefined {
  if (s.insecureTls && s.endpointProtocol === 'http') {
    return 'Skipping TLS verification only applies to https endpoints: turn it off or choose https.'
  }
  if (s.iamRoleEndpoint) return iamProblem(s.iamRoleEndpoint)
  if (!s.accessKeyId || !secrets.secretAccessKey) {
    return 'Enter both the access key ID and the secret access key.'
  }
  return undefined
}

const CA_MAX_BYTES = 1 << 20

const quiet = () => {}
const QUIET = { trace: quiet, debug: quiet, info: quiet, warn: quiet, error: quiet }

/** The PEM text of the CA setting: the text itself, or the PEM file it names. */
async function loadCa(ca: string): Promise<string> {
  let pem = ca
  if (!ca.startsWith('-----BEGIN')) {
    // One message for every failure: the panel's files are not the tenant's to probe.
    const unreadable = new StorageError(
      'BadConfig',
      `the CA certificate file ${ca} could not be read as a PEM certificate`,
    )
    // O_NONBLOCK: a FIFO at that path must not hang us; only small regular files are read.
    const fh = await open(ca, constants.O_RDONLY | constants.O_NONBLOCK).catch(() => {
      throw unreadable
    })
    try {
      const info = await fh.stat()
      if (!info.isFile() || info.size > CA_MAX_BYTES) throw unreadable
      pem = await fh.readFile('utf8')
    } catch {
      throw unreadable
    } finally {
      await fh.close()
    }
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw unreadable
  }
  try {
    createSecureContext({ ca: pem })
  } catch (err) {
    throw new StorageError('BadConfig', 'the CA certificate is not a valid PEM certificate', {
      cause: err,
    })
  }
  return pem
}

/**
 * Builds the S3 client for `s` after every check that needs I/O: the endpoint (and IAM role
 * endpoint) host against the outbound guard, and the CA certificate. All connections go through
 * agents whose lookup is the guard's, so a host name resolving to a blocked address is refused
 * at connect time too. The SDK retries a single request once (maxAttempts 2); everything else
 * is `withRetry`'s job. Only the credentials given here are used, never the SDK's default chain.
 */
export async function connect(
  s: S3Settings,
  secrets: S3Secrets,
  guard: GuardPolicy,
): Promise<S3Client> {
  const problem = configProblem(s, secrets)
  if (problem) throw new StorageError('BadConfig', problem)
  const { url, https } = endpointOf(s)
  if (url) await checkUrlHost(guard, url)
  if (s.iamRoleEndpoint) await checkUrlHost(guard, s.iamRoleEndpoint)
  const ca = https && s.caCert ? await loadCa(s.caCert) : undefined
  const lookup = guardedLookup(guard) as never
  const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 16, lookup })
  const httpsAgent = new HttpsAgent({
    keepAlive: true,
    maxSockets: 16,
    lookup,
    rejectUnauthorized: !s.insecureTls,
    ...(ca ? { ca: [...rootCertificates, ca] } : {}),
  })
  const credentials = s.iamRoleEndpoint
    ? iamCredentials(s.iamRoleEndpoint, { http: httpAgent, https: httpsAgent })
    : { accessKeyId: s.accessKeyId, secretAccessKey: secrets.secretAccessKey! }
  return new S3Client({
    region: s.region || 'us-east-1',
    endpoint: url,
    tls: https,
    forcePathStyle: url ? s.pathStyle : false,
    credentials,
    maxAttempts: 2,
    // Silent, as the SDK's default is, except that the default makes it print "non-retryable
    // streaming request" on stderr for every failed upload (uploads stream; see upload.ts).
    logger: QUIET,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    followRegionRedirects: false,
    // The tenant's endpoint setting decides where requests go, not AWS_ENDPOINT_URL* in our env.
    ignoreConfiguredEndpointUrls: true,
    requestHandler: new NodeHttpHandler({
      httpAgent,
      httpsAgent,
      connectionTimeout: 10_000,
      socketTimeout: 120_000,
    }),
  })
}
