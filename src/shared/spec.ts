/**
 * A function's network egress. 'none': the sandbox has a network namespace
 * of its own holding only a loopback (it reaches nothing outside itself).
 * 'internet': outbound connections to the internet through a user-mode NAT,
 * with the host's own addresses, private and link-local (metadata) ranges
 * blocked (src/worker/sandbox/network.ts).
 */
export type Egress = 'none' | 'internet';

/**
 * What the data plane runs: one deployed function version, as the control
 * plane hands it to the invoke path. Immutable; a change of code or
 * configuration produces a new spec with a new `key`.
 */
export interface FunctionVersionSpec {
  /**
   * Identity of this exact code + configuration. Warm sandboxes are reused
   * only for invokes of the same key; a new key retires the old sandboxes.
   */
  readonly key: string;
  readonly functionName: string;
  /** Unqualified ARN: arn:aws:lambda:REGION:ACCOUNT:function:NAME */
  readonly functionArn: string;
  /** '$LATEST' or a published version number. */
  readonly version: string;
  /** nodejs20.x | nodejs22.x | provided.al2023 | provided.al2 */
  readonly runtime: string;
  readonly handler: string;
  /** MB */
  readonly memorySize: number;
  /** Seconds. */
  readonly timeout: number;
  /** MB of /tmp. */
  readonly ephemeralStorage: number;
  /** The function's own Environment.Variables. */
  readonly environment: Readonly<Record<string, string>>;
  /** Absolute path of the unpacked code (the task root), shared read-only by its sandboxes. */
  readonly codeDir: string;
  /** Base64 SHA-256 of the deployment package. */
  readonly codeSha256: string;
  readonly region: string;
  /**
   * Absolute path of the function's layers merged in order (its /opt),
   * shared read-only by its sandboxes; absent when the function has no
   * layers (the sandbox then shows an empty /opt).
   */
  readonly optDir?: string;
  /**
   * Hex SHA-256 of each layer zip, in the order they are merged into optDir:
   * what a worker on another host fetches to build optDir itself. Present
   * exactly when optDir is.
   */
  readonly layers?: readonly string[];
  /**
   * Network egress of the function's sandboxes; absent means 'none'. Set by
   * the control plane from the function's `kindling:egress` tag and the
   * platform's default.
   */
  readonly egress?: Egress;
}
