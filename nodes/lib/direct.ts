// In-process audio wires: where a node's audio output is wired only to xcast nodes that take audio directly, each packet
// goes down that wire as a function call instead of a Node-RED message.
//
// Why: on the xcast every received packet was a Node-RED message to the mixer and the event stream — per packet a
// send, two deliveries each behind a setImmediate, hooks, metric objects and a clone: about two thirds of the event
// loop's work and allocation at 100 peers (docs/performance.md), and a delivery delay that arrived at the mixer
// as jitter. The wire in the editor is the same wire: the flow still says reader → mixer, event stream; the
// targets get the same message object, in arrival order, synchronously with the socket read. It applies only
// when every node on the output takes audio directly (xcast-mixer, xcast-event-stream): wire anything else there
// (a debug node, a function) and the whole output goes back to ordinary messages, so what a user wires is what
// happens. A target's error goes to node.error(err, msg), where a Catch node sees it.
import type { Node, NodeAPI } from 'node-red';
import type { AudioMsg } from './glue';
import type { PacketRingShared } from '../../runtime/audio/packet-ring';

export type DirectAudioHandler = (msg: AudioMsg) => void;

const KEY = '__xcastDirectAudio';
type WithDirect = Node & { [KEY]?: DirectAudioHandler; wires?: string[][] };

/** Lets wires deliver audio to this node by a call to `handle` (which may throw: reported as the node's error). */
function acceptDirectAudio(node: Node, handle: (msg: AudioMsg) => void): void {
  const n = node as WithDirect;
  n[KEY] = (msg: AudioMsg) => {
    try {
      handle(msg);
    } catch (err) {
      node.error(err as Error, msg as never);
    }
  };
  node.on('close', (_removed: boolean, done: () => void) => {
    delete n[KEY];
    done();
  });
}

/**
 * The input of a node that takes audio directly: `handle` runs for every Node-RED message (its error goes to
 * done(err)) and for every direct call (its error to node.error). `send` is Node-RED's for a message, absent for a
 * call.
 */
export function onAudioInput(node: Node, handle: (msg: Record<string, unknown>, send?: (m: unknown) => void) => void): void {
  node.on('input', (msg, send, done) => {
    try {
      handle(msg as Record<string, unknown>, send as (m: unknown) => void);
      done();
    } catch (err) {
      done(err as Error);
    }
  });
  acceptDirectAudio(node, (msg) => handle(msg as Record<string, unknown>));
}

/**
 * One output of a node: its direct targets, resolved lazily and again when the wires or the targets change.
 *
 * The switch from messages to calls keeps the order: Node-RED delivers a message from a setImmediate queued when it
 * was sent, so packets sent as messages just before the switch would reach the target after a call made at once.
 * An output that sent messages therefore queues its first calls and makes them from a setImmediate of its own,
 * queued after every delivery still pending (docs/DESIGN.md, "Direct wires"). The switch back to messages needs
 * nothing: a call is over before the next packet is sent.
 */
export class DirectWire {
  private wires: string[] | undefined;
  private targets: WithDirect[] = [];
  private handlers: DirectAudioHandler[] | null = null;
  private retryAt = 0;
  /** resolve() has said "messages" since the last switch to calls: some may still wait in Node-RED's queue. */
  private sentMessages = false;
  /** While the switch waits for those: the packets, in order, and the one handler that files them. */
  private held: AudioMsg[] | null = null;
  private readonly holding: DirectAudioHandler[] = [(msg) => { (this.held as AudioMsg[]).push(msg); }];
  /** A target this wire leaves out (it gets the packets another way: a mixer fed through its ring). */
  private excluded: Node | null = null;

  constructor(private readonly RED: NodeAPI, private readonly node: Node, private readonly output: number) {}

  /** Leaves `target` out of the calls from now on (null: none left out); the targets are resolved again. */
  exclude(target: Node | null): void {
    if (target === this.excluded) return;
    this.excluded = target;
    this.wires = undefined;
    this.handlers = null;
    this.retryAt = 0;
  }

  /** The handlers to call, or null: send this output as messages. [] when nothing is wired. */
  resolve(): DirectAudioHandler[] | null {
    if (this.held !== null) return this.holding;
    const direct = this.targetHandlers();
    if (direct === null) {
      this.sentMessages = true;
      return null;
    }
    if (this.sentMessages && direct.length > 0) {
      this.sentMessages = false;
      this.held = [];
      setImmediate(() => this.release());
      return this.holding;
    }
    return direct;
  }

  /** The packets held while the switch waited, to the targets that still take them, in order. */
  private release(): void {
    const held = this.held as AudioMsg[];
    this.held = null;
    const targets = this.targets;
    const handlers = this.handlers ?? [];
    for (const msg of held) {
      // A target closed meanwhile gets none, as a message to a closed node reaches no one.
      for (let i = 0; i < handlers.length; i++) if (targets[i][KEY] === handlers[i]) handlers[i](msg);
    }
  }

  /** The targets' handlers as the wires stand, or null: messages. */
  private targetHandlers(): DirectAudioHandler[] | null {
    const wires = (this.node as WithDirect).wires?.[this.output];
    if (wires === this.wires && this.handlers !== null) {
      let valid = true;
      for (let i = 0; i < this.targets.length; i++) if (this.targets[i][KEY] !== this.handlers[i]) { valid = false; break; }
      if (valid) return this.handlers;
    } else if (wires === this.wires && this.handlers === null && Date.now() < this.retryAt) {
      return null;
    }
    this.wires = wires;
    this.handlers = null;
    this.targets = [];
    if (!wires) return null;
    const handlers: DirectAudioHandler[] = [];
    for (const id of wires) {
      const t = this.RED.nodes.getNode(id) as WithDirect | null;
      if (t !== null && t === this.excluded) continue;
      const h = t?.[KEY];
      if (!t || !h) {
        // A target that takes only messages, or one not started yet (deploys start nodes in turn): messages, and
        // look again in a second.
        this.targets = [];
        this.retryAt = Date.now() + 1000;
        return null;
      }
      this.targets.push(t);
      handlers.push(h);
    }
    this.handlers = handlers;
    return handlers;
  }
}

/** One audio output of a node: each message goes by call where the output is direct, else as a Node-RED message. */
export class AudioOutput {
  private readonly wire: DirectWire;
  private readonly slots: Array<unknown>;

  constructor(RED: NodeAPI, private readonly node: Node, private readonly index: number, outputs: number) {
    this.wire = new DirectWire(RED, node, index);
    this.slots = new Array(outputs).fill(null);
  }

  /** Sends one message (or several, in order) on this output; `send` is the input handler's, when there is one. */
  send(msg: AudioMsg | AudioMsg[], send?: (m: unknown) => void): void {
    const direct = this.wire.resolve();
    if (direct !== null) {
      if (Array.isArray(msg)) {
        for (const m of msg) for (let i = 0; i < direct.length; i++) direct[i](m);
      } else {
        for (let i = 0; i < direct.length; i++) direct[i](msg);
      }
      return;
    }
    if (this.slots.length === 1 && !Array.isArray(msg)) {
      if (send) send(msg); else this.node.send(msg as never);
      return;
    }
    // Node-RED reads the array during send() and keeps only the messages: the array is reused.
    this.slots[this.index] = msg;
    try {
      if (send) send(this.slots); else this.node.send(this.slots as never);
    } finally {
      this.slots[this.index] = null;
    }
  }
}

// ---- ring ingest: a reader on another thread writes straight into a mixer's mix thread ----

/** What a mixer offers a reader whose socket lives on a thread of its own (MixEngine.attachRing). */
export interface RingIngest {
  ring: PacketRingShared;
  sampleRate: number;
  detach(): void;
}

const RING_KEY = '__xcastRingIngest';
type WithRing = Node & { [RING_KEY]?: () => RingIngest; wires?: string[][] };

/** Lets a reader wired to this node hand its packets to `attach()`'s ring (the mixer: engine.attachRing()); gone on close. */
export function offerRingIngest(node: Node, attach: () => RingIngest): void {
  const n = node as WithRing;
  n[RING_KEY] = attach;
  node.on('close', (_removed: boolean, done: () => void) => {
    delete n[RING_KEY];
    done();
  });
}

/** How often a RingWire looks at its wires and target again (besides every deploy's 'flows:started'). */
const RING_RECHECK_MS = 500;

/** How the output is shared when a ring is in use: the ring's node, and how many other (direct) targets the output has. */
export interface RingShare {
  target: Node;
  others: number;
}

/**
 * One output of a reader whose packets can go into a mixer's ring instead of the event loop: when exactly one of the
 * nodes the output is wired to offers a ring ingest (a mixer) and every other one takes audio directly (an event
 * stream, a socket writer: nodes/lib/direct.ts), `onRing` gets that mixer's ring and how many others there are — the
 * reader then leaves the mixer out of its direct calls (DirectWire.exclude) and the others still get every packet,
 * by call. When the wires or the targets change (a redeploy of the mixer makes a new engine) it gets the new ring, or
 * null — then the reader sends messages (or direct calls) to every target again. An output with anything else on it
 * (a debug node, a function) never takes a ring: every target gets the same messages, as the wires say. Looked at on
 * every deploy and every RING_RECHECK_MS; the ring is released on close().
 */
export class RingWire {
  private target: WithRing | null = null;
  private attachFn: (() => RingIngest) | undefined;
  private others = -1;
  private current: RingIngest | null = null;
  private readonly timer: NodeJS.Timeout;
  private readonly onFlows = (): void => this.check();
  private closed = false;

  constructor(private readonly RED: NodeAPI, private readonly node: Node, private readonly output: number, private readonly onRing: (ring: RingIngest | null, share: RingShare | null) => void) {
    this.timer = setInterval(() => this.check(), RING_RECHECK_MS);
    this.timer.unref();
    (RED.events as unknown as { on(e: string, f: () => void): void }).on('flows:started', this.onFlows);
    this.check();
  }

  /** The ring in use, if any. */
  get ring(): RingIngest | null {
    return this.current;
  }

  /** Looks at the wires and the targets again; switches when they changed. */
  check(): void {
    if (this.closed) return;
    const wires = (this.node as WithRing).wires?.[this.output] ?? [];
    let ringNode: WithRing | null = null;
    let rings = 0;
    let direct = true;
    for (const id of wires) {
      const n = this.RED.nodes.getNode(id) as (WithRing & WithDirect) | null;
      if (n?.[RING_KEY]) { ringNode = n; rings++; } else if (!n?.[KEY]) direct = false;
    }
    const t = rings === 1 && direct ? ringNode : null;
    const fn = t?.[RING_KEY];
    const others = t ? wires.length - 1 : -1;
    if (t === this.target && fn === this.attachFn) {
      // The same ring; only the other targets changed.
      if (others !== this.others && this.current) { this.others = others; this.onRing(this.current, { target: t as Node, others }); }
      return;
    }
    const old = this.current;
    this.target = t;
    this.attachFn = fn;
    this.others = others;
    this.current = null;
    if (fn) {
      try {
        this.current = fn();
      } catch (err) {
        this.node.error(err as Error);
      }
    }
    // The new ring first, then the old one released: the writer never writes into a ring no one drains.
    this.onRing(this.current, this.current && t ? { target: t, others } : null);
    old?.detach();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    (this.RED.events as unknown as { removeListener(e: string, f: () => void): void }).removeListener('flows:started', this.onFlows);
    const old = this.current;
    this.current = null;
    if (old) { this.onRing(null, null); old.detach(); }
  }
}
