// The CLI's "did you mean": the pure function lives in the core (src/did-you-mean.ts), which the manifest checks use too.
export { didYouMean, suggest } from '../did-you-mean.js';
