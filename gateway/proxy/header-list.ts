/**
 * Headers as Node's flat `[name, value, …]` list, for a request or a response head: Node stores such a list
 * as it is, where it sets an object's headers one by one (each name lower-cased, stored in a map, looked up
 * again when the head is written).
 */
export function addHeader(list: string[], name: string, value: string | string[] | undefined): void {
  if (typeof value === 'string') list.push(name, value);
  // A header an incoming message repeats comes as an array: each value goes on a line of its own.
  else if (value) for (const each of value) list.push(name, each);
}
