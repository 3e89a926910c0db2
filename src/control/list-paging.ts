/**
 * Paging of the control plane's List* operations (ListFunctions,
 * ListVersionsByFunction, ListAliases, ListLayers, ...). A marker is opaque
 * to clients: base64url of the JSON array of the last listed item's key,
 * so that a page starts after it even when items were added or removed
 * between the calls.
 */
import { LambdaError } from '../shared/errors.js';
import { checkInt, Violations } from './validation.js';

/** The NextMarker of a page whose last item has `key`. */
export function encodeMarker(key: readonly string[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/**
 * The key a marker holds, checked: `size` strings, each passing `valid` when
 * given. Anything else is refused in the words Kindling uses for every list
 * (Lambda's text for a bad marker is not recorded).
 */
export function decodeMarker(marker: string, size: number, valid?: (key: readonly string[]) => boolean): string[] {
  try {
    const v = JSON.parse(Buffer.from(marker, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === size && v.every((s) => typeof s === 'string') && (valid === undefined || valid(v))) {
      return v;
    }
  } catch {
    // fall through
  }
  throw new LambdaError('InvalidParameterValueException', `Invalid marker: ${marker}`);
}

/** A ?Marker= query value: undefined when absent or empty (the SDKs send neither on the first page). */
export function markerKey(marker: string | undefined, size: number, valid?: (key: readonly string[]) => boolean): string[] | undefined {
  return marker === undefined || marker === '' ? undefined : decodeMarker(marker, size, valid);
}

/**
 * A ?MaxItems= query value of a list whose page holds 1..max items, `max`
 * when absent (ListFunctionEventInvokeConfigs, ListFunctionUrlConfigs: the
 * model's range; a value that is no integer fails to deserialize, as on Lambda).
 */
export function parseMaxItems(maxItems: string | undefined, max: number): number {
  if (maxItems === undefined) return max;
  const n = Number(maxItems);
  if (maxItems === '' || !Number.isInteger(n)) throw new LambdaError('SerializationException', 'STRING_VALUE can not be converted to an Integer');
  const v = new Violations();
  checkInt(v, n, 'maxItems', 1, max);
  v.throwIfAny();
  return n;
}
