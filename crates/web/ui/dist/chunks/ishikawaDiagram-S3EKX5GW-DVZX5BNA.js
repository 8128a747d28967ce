throw new Error("ishikawaDiagram-S3EKX5GW.mjs is not part of pathproof's page");
