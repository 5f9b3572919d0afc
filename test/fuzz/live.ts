export async function runLiveFuzz(_o: { seed: number; frames: number }): Promise<unknown> { return {}; }
export function formatLiveReport(_r: unknown): string { return ''; }
export function liveProblems(_r: unknown): string[] { return []; }
