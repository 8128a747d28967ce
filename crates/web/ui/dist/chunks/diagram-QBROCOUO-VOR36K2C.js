throw new Error("diagram-QBROCOUO.mjs is not part of pathproof's page");
