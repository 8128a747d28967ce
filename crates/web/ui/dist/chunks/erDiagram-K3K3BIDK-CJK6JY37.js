throw new Error("erDiagram-K3K3BIDK.mjs is not part of pathproof's page");
