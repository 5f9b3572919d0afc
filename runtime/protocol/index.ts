// streamproto1 in one import: frame codec, Opus TOC validation, incremental parser, TCP/TLS transports, UDP sessions, seed 002 formats, users and limits.

export * from './frame';
export * from './opus-toc';
export * from './parser';
export * from './transport';
export * from './auth';
export * from './limits';
export * from './tls-files';
export * from './udp-sessions';
export * from './udp-client';
export * from './seed002';
