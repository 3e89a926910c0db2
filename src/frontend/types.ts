/** An Invoke request, parsed and validated by api/. */
export interface InvokeCommand {
  /** x-amzn-RequestId of the request; the function sees it as context.awsRequestId. */
  readonly requestId: string;
  /** {FunctionName} from the path, URL-decoded: name, name:qualifier, partial or full ARN. */
  readonly functionName: string;
  /** ?Qualifier= */
  readonly qualifier: string | undefined;
  readonly invocationType: 'RequestResponse' | 'Event' | 'DryRun';
  readonly logType: 'None' | 'Tail';
  /** X-Amz-Client-Context, base64-decoded (JSON text). */
  readonly clientContext: string | undefined;
  /** The event: valid JSON; '{}' when the request had no body. */
  readonly payload: Buffer;
}

export interface InvokeResponse {
  readonly statusCode: 200 | 202 | 204;
  /** X-Amz-Executed-Version */
  readonly executedVersion: string | undefined;
  /** X-Amz-Function-Error */
  readonly functionError: string | undefined;
  /** X-Amz-Log-Result: base64 of the last 4 KB of the invoke's log. */
  readonly logResult: string | undefined;
  readonly payload: Buffer;
}
