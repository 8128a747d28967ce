throw new Error("diagram-7YQZDPLS.mjs is not part of pathproof's page");
