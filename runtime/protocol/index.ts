// streamproto1 in one import: frame codec, Opus TOC validation, incremental parser and TCP transports.

export * from './frame';
export * from './opus-toc';
export * from './parser';
export * from './transport';
