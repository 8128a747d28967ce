throw new Error("diagram-YR4HJLHV.mjs is not part of pathproof's page");
