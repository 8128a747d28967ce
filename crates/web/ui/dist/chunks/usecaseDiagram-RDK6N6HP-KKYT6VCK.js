throw new Error("usecaseDiagram-RDK6N6HP.mjs is not part of pathproof's page");
