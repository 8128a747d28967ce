throw new Error("katex is not part of pathproof's page");
