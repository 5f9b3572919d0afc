// The operator's console (docs/console.md): its state, its controls and its server (HTTP handler and websocket).
export { ConsoleState, qosLight, QOS_FAIR, QOS_POOR, QOS_WINDOW_MS } from './state';
export type { Strip, MasterStrip, ConsoleSnapshot, ParamsChange, QosLight, MeterLayout } from './state';
export { ControlError, readControlBody, readPageMessage, dbToGain, gainToDb, MAX_GAIN_DB } from './control';
export type { MixerControl, PageMessage } from './control';
export { ConsoleServer, METER_LAW, MAX_MONITORS, SKIP_ABOVE_BYTES } from './server';
export type { ConsoleServerOptions, ConsoleRequest, ConsoleAnswer, ConsoleStats } from './server';
