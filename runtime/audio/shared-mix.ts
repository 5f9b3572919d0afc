// Mix-minus frames that are a room's whole mix: handed to every receiver that added nothing to the frame, the one
// Buffer for all of them, so an encoder encodes it once (./stream-encoder.ts). Process-local, never on the wire.
const shared = new WeakSet<Buffer>();

/** `frame` is a room's mix given as the mix-minus of one or more receivers (its content is the room's mix). */
export function markSharedMix(frame: Buffer): void {
  shared.add(frame);
}

/** Whether `frame` is such a Buffer (a copy of one, e.g. a Node-RED message clone's, is not). */
export function isSharedMix(frame: Buffer): boolean {
  return shared.has(frame);
}
