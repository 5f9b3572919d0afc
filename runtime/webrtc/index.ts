// Browsers as peers over WebRTC (werift): the hub, the signaling of docs/webrtc.md, the SDP rules.
export * from './hub';
export { SignalingError, parseBody, readOfferRequest, readCandidateRequest } from './signaling';
export type { ErrorCode, RtcAnswer } from './signaling';
export { readOffer, shapeAnswer, answerFmtp, candidateAddresses, SdpError } from './sdp';
export { RtcPeer, ntpToMicros } from './peer';
export * from './http';
