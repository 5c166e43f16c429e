/// <reference types="vite/client" />

/** The release the console was built as (CHORUS_RELEASE at build time). */
declare const __RELEASE__: string;
