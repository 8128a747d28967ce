throw new Error("c4Diagram-M2UUVUY5.mjs is not part of pathproof's page");
