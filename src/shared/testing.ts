/**
 * Fakes of Kindling's own interfaces, for unit tests of their consumers.
 * (Never used outside tests.)
 */
import type { FunctionVersionSpec } from './spec.js';
import type { Sandbox, SandboxInvokeOutcome, SandboxInvokeRequest } from '../worker/types.js';
import { NoCapacityError } from '../placement/placement.js';

export function fakeSpec(overrides: Partial<FunctionVersionSpec> = {}): FunctionVersionSpec {
  return {
    key: 'f:$LATEST:1',
    functionName: 'f',
    functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:f',
    version: '$LATEST',
    runtime: 'nodejs20.x',
    handler: 'index.handler',
    memorySize: 128,
    timeout: 3,
    ephemeralStorage: 512,
    environment: {},
    codeDir: '/nonexistent',
    codeSha256: 'x',
    region: 'us-east-1',
    ...overrides,
  };
}

/** A sandbox that answers every invoke with `respond(request)`; records what it saw. */
export class FakeSandbox implements Sandbox {
  static #next = 1;
  readonly id = `fake-${FakeSandbox.#next++}`;
  readonly spec: FunctionVersionSpec;
  readonly invokes: SandboxInvokeRequest[] = [];
  destroyed = false;
  readonly exited: Promise<void>;
  #exit!: () => void;
  respond: (request: SandboxInvokeRequest) => Partial<SandboxInvokeOutcome> = () => ({});
  /** When set, invoke() rejects with it (a platform failure). */
  fail: Error | undefined;

  constructor(spec: FunctionVersionSpec) {
    this.spec = spec;
    this.exited = new Promise((resolve) => (this.#exit = resolve));
  }

  invoke(request: SandboxInvokeRequest): Promise<SandboxInvokeOutcome> {
    this.invokes.push(request);
    if (this.fail) return Promise.reject(this.fail);
    return Promise.resolve({
      payload: Buffer.from('null'),
      functionError: undefined,
      errorType: undefined,
      logs: undefined,
      reusable: true,
      cold: this.invokes.length === 1,
      durationMs: 1,
      initDurationMs: undefined,
      maxMemoryUsedMB: 10,
      ...this.respond(request),
    });
  }

  /** Simulates the sandbox process dying on its own. */
  crash(): void {
    this.#exit();
  }

  destroy(): Promise<void> {
    this.destroyed = true;
    this.#exit();
    return Promise.resolve();
  }
}

/**
 * A sandbox provider (placement) that makes FakeSandboxes. With a capacity,
 * it holds at most that many live sandboxes and then rejects with
 * NoCapacityError, as placement does when every worker is full.
 */
export class FakeProvider {
  readonly created: FakeSandbox[] = [];
  /** Applied to every new sandbox (say, to make it fail). */
  configure: (sandbox: FakeSandbox) => void = () => {};
  #live = 0;

  constructor(readonly capacity = Infinity) {}

  createSandbox(spec: FunctionVersionSpec): Promise<Sandbox> {
    if (this.#live >= this.capacity) return Promise.reject(new NoCapacityError(spec.memorySize));
    const s = new FakeSandbox(spec);
    this.configure(s);
    this.#live++;
    void s.exited.then(() => this.#live--);
    this.created.push(s);
    return Promise.resolve(s);
  }
}
