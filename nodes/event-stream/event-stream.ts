// Node: audio event stream — every received packet and every mix decision as binary events on TCP (and optionally a file).
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { EventStreamServer, TrackMixParameters } from '../../runtime/events/server';
import { num, str, frameSamplesOf } from '../lib/config';
import { refuse, isAudioMsg, resolveUserPath, AudioMsg } from '../lib/glue';
import { onAudioInput } from '../lib/direct';
import { StatusThrottle } from '../lib/status';
import { translator } from '../lib/i18n';
import { UsedFrame } from '../../runtime/audio/used';
import { isRoomName } from '../../runtime/rooms';
import { StreamKeys, OncePerStream, streamLabel } from '../../runtime/audio/stream-key';

interface EventStreamDef extends NodeDef {
  host: string; port: string; sampleRate: string; frameMs: string; file: string; rotateMb: string; rotateMinutes: string; maxClientBacklogKb: string;
}

export = function (RED: NodeAPI) {
  function EventStreamNode(this: Node, config: EventStreamDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = new StatusThrottle(node);
    const t = translator(RED);
    let server: EventStreamServer | undefined;
    try {
      const host = str(config as never, 'host', { def: '127.0.0.1' });
      const port = num(config as never, 'port', { def: 7012, min: 0, max: 65535, int: true });
      const sampleRate = num(config as never, 'sampleRate', { def: 48000, min: 8000, max: 192000, int: true });
      const frameSamples = frameSamplesOf(config as never, 'frameMs', sampleRate, 10);
      const file = str(config as never, 'file');
      const rotateMb = num(config as never, 'rotateMb', { def: 0, min: 0 });
      const rotateMinutes = num(config as never, 'rotateMinutes', { def: 0, min: 0 });
      const maxClientBacklogBytes = num(config as never, 'maxClientBacklogKb', { def: 4096, min: 64 }) * 1024;
      server = new EventStreamServer({
        host, port, sampleRate, frameSamples, maxClientBacklogBytes,
        file: file ? { path: resolveUserPath(RED, file), rotateBytes: rotateMb ? rotateMb * 1048576 : undefined, rotateMs: rotateMinutes ? rotateMinutes * 60000 : undefined } : undefined,
      });
      const srv = server;
      // Rare events, worth the operator's attention: a capture that fell behind lost its stream; the file stopped.
      srv.on('clientDropped', (d: { remote: string; backlogBytes: number }) => {
        node.warn(t('event-stream.errors.client-dropped', { remote: d.remote, kib: Math.round(d.backlogBytes / 1024), bound: Math.round(maxClientBacklogBytes / 1024) }));
      });
      srv.on('fileError', (err: Error) => {
        node.error(t('event-stream.errors.file', { detail: err.message }));
        status.now('red', 'ring', t('event-stream.status.file-error'));
      });
      srv.on('serverError', (err: Error) => node.error(t('event-stream.errors.server', { detail: err.message })));
      srv.listen().then(
        (a) => status.now('yellow', 'ring', t(file ? 'event-stream.status.listening-recording' : 'event-stream.status.listening', { port: a.port })),
        (err: Error) => { node.error(t('xcast.errors.cannot-listen', { where: `${host}:${port}`, detail: err.message })); status.now('red', 'ring', t('event-stream.status.listen-failed')); },
      );
      let packets = 0;
      const keys = new StreamKeys();
      const refusals = new OncePerStream();
      // Made only when the (throttled) status is shown, not for every packet.
      const statusText = () => t('event-stream.status.clients', { count: srv.clients, packets });
      const handle = (msg: Record<string, unknown>): void => {
        const userId = (msg.userId as string | undefined) ?? '';
        if (msg.topic === 'connection') {
          // Musician profiles come from each peer's HELLO; a reconnect's seq count starts again (the server continues it).
          // Channels are the connection's (two connections under one userId never share one); a connection that
          // follows a closed one of the same user takes its channels over.
          const p = msg.payload as { event?: string; hello?: { profile?: Record<string, unknown> }; connectionId?: unknown };
          const connectionId = typeof p?.connectionId === 'string' ? p.connectionId : typeof msg.connectionId === 'string' ? msg.connectionId : '';
          if (p?.event === 'open') srv.senderConnected(userId, (p.hello?.profile ?? null) as never, connectionId);
          else if (p?.event === 'close') srv.senderDisconnected(userId, connectionId);
        } else if (msg.topic === 'mixParameters') {
          const p = msg.payload as { fromFrameSeq: number; master: number; tracks: TrackMixParameters[]; rooms?: Record<string, number> };
          srv.trackMixParameters(p.fromFrameSeq, p.master, p.tracks, p.rooms);
        } else if (msg.mixed && isAudioMsg(msg)) {
          // The mixer's output 1 (the room 'main', 0x02) and output 4 (every other room, 0x13 with its room).
          const m = msg.mixed as { frameSeq: number; used: unknown; room?: unknown };
          if (!(m.used instanceof UsedFrame)) throw new Error(t('event-stream.errors.not-used-frame'));
          srv.trackFrameMixed(m.frameSeq, m.used, isRoomName(m.room) ? m.room : undefined);
        } else if (isAudioMsg(msg)) {
          const a = (msg as AudioMsg).audio;
          const connectionId = typeof msg.connectionId === 'string' ? msg.connectionId : '';
          try {
            srv.trackPacketReceived(userId, a, msg.payload as Buffer, connectionId);
          } catch (err) {
            // A packet the event format cannot carry: the first of each stream and reason is the error a Catch node
            // sees, the rest are counted only — never a log line per frame.
            const e = err as Error;
            if (refusals.refuse(keys.key(userId, a.trackId, undefined, connectionId), e.message)) {
              throw new Error(t('event-stream.errors.refused-stream', { stream: streamLabel({ userId, trackId: a.trackId, connectionId }), detail: e.message }));
            }
            return;
          }
          packets++;
          status.setBy(srv.clients ? 'green' : 'yellow', srv.clients ? 'dot' : 'ring', statusText);
        }
      };
      // A socket reader wired straight here hands its packets over by a call (nodes/lib/direct.ts).
      onAudioInput(node, handle);
    } catch (err) {
      refuse(RED, node, err);
    }
    node.on('close', (removed: boolean, done: () => void) => {
      status.clear();
      Promise.resolve(server?.close()).then(() => done(), () => done());
    });
  }
  RED.nodes.registerType('xcast-event-stream', EventStreamNode);
};
