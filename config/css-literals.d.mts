export declare function compactCss(text: string): string;
export declare function compactCssLiterals(code: string): string;
