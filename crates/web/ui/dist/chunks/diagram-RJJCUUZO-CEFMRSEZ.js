throw new Error("diagram-RJJCUUZO.mjs is not part of pathproof's page");
