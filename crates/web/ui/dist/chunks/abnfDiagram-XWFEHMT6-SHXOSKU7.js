throw new Error("abnfDiagram-XWFEHMT6.mjs is not part of pathproof's page");
